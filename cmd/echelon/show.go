package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runShow(ctx context.Context, args []string) error {
	return errors.New("show is not built yet")
}
