package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/echelonhq/echelon/exec/internal/throttleapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	perSec := flag.Float64("rate", 5, "requests per second per bucket, sustained")
	burst := flag.Int("burst", 5, "bucket size")
	hold := flag.Duration("hold", 0, "time each accepted request takes")
	life := flag.Duration("for", time.Hour, "stop after this long")
	flag.Parse()
	s, err := throttleapi.Start(*addr, *perSec, *burst, *hold)
	if err != nil {
		fmt.Fprintln(os.Stderr, "throttleapi:", err)
		os.Exit(1)
	}
	fmt.Println(s.URL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	select {
	case <-sig:
	case <-time.After(*life):
	}
	st := s.Stats()
	fmt.Fprintf(os.Stderr, "throttleapi: %d requests, %d ok, %d throttled\n", st.Requests, st.OK, st.Throttled)
	s.Close()
}
