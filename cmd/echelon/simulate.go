package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runSimulate(ctx context.Context, args []string) error {
	return errors.New("simulate is not built yet")
}
