package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runGraph(ctx context.Context, args []string) error {
	return errors.New("graph is not built yet")
}
