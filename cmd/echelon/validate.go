package main

import (
	"context"
	"errors"
)

// TODO(issue): not built yet; this file is replaced by the subcommand.
func runValidate(ctx context.Context, args []string) error {
	return errors.New("validate is not built yet")
}
