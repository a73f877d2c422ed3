package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runCompile(ctx context.Context, args []string) error {
	return errors.New("compile is not built yet")
}
