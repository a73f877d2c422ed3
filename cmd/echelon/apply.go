package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runApply(ctx context.Context, args []string) error {
	return errors.New("apply is not built yet")
}
