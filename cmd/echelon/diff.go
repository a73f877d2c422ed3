package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runDiff(ctx context.Context, args []string) error {
	return errors.New("diff is not built yet")
}
