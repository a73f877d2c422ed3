package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/echelonhq/echelon/planner/internal/specgen"
)

func main() {
	ops := flag.Int("ops", 1000, "operations to generate (at least)")
	dir := flag.String("dir", "", "directory to write")
	flat := flag.Bool("flat", false, "write the flat comparison instead: -ops components and as many terraform_data resources in tf/")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: specgen -ops N -dir DIR")
		os.Exit(2)
	}
	write := specgen.WriteDir
	if *flat {
		write = specgen.WriteFlat
	}
	if err := write(*dir, *ops); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
	fmt.Println(filepath.Join(*dir, "spec.hcl"))
}
