package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runFmt(ctx context.Context, args []string) error {
	return errors.New("fmt is not built yet")
}
