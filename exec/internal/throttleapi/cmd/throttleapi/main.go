// Command throttleapi is the tests' token-bucket API as a process, for
// benchmarks that run real operations against it (scripts/bench-throttle.sh):
//
//	throttleapi serve --rate R --burst B --url-file F
//	    serves until SIGTERM, then prints its counts as JSON;
//	throttleapi call --url U --bucket NAME [--region R] --n N --over D
//	    [--backoff B --max-backoff M --max-attempts K]
//	    makes N requests spread evenly over D (request k at (k + 1/2) D / N
//	    after the start and the time spent waiting so far), each retried
//	    after a 429 with exponential backoff from B, doubled per attempt,
//	    capped at M, with equal jitter: the client the simulator models
//	    (docs/simulator.md, "APIs").
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/echelonhq/echelon/exec/internal/throttleapi"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: throttleapi serve|call [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "call":
		err = call(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: serve or call", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "throttleapi:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	rate := fs.Float64("rate", 4, "tokens per second per bucket")
	burst := fs.Int("burst", 4, "bucket size")
	urlFile := fs.String("url-file", "", "write the server's URL to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := throttleapi.Start("127.0.0.1:0", *rate, *burst, 0)
	if err != nil {
		return err
	}
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(s.URL+"\n"), 0o644); err != nil {
			return err
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	st := s.Stats()
	s.Close()
	return json.NewEncoder(os.Stdout).Encode(st)
}

func call(args []string) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	base := fs.String("url", "", "the server's URL")
	bucket := fs.String("bucket", "api", "bucket (api) name")
	region := fs.String("region", "", "region, for a region-scoped api")
	n := fs.Int("n", 1, "requests")
	over := fs.Duration("over", time.Second, "the work the requests are spread over")
	backoff := fs.Duration("backoff", 500*time.Millisecond, "first backoff after a 429")
	maxBackoff := fs.Duration("max-backoff", 30*time.Second, "longest backoff")
	maxAttempts := fs.Int("max-attempts", 0, "give up after this many throttled attempts of one request (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *n < 1 || *backoff <= 0 {
		return errors.New("call needs --url, --n >= 1 and --backoff > 0")
	}
	u := *base + "/call/" + url.PathEscape(*bucket)
	if *region != "" {
		u += "?scope=region&region=" + url.QueryEscape(*region)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	var waited time.Duration
	for k := 0; k < *n; k++ {
		at := start.Add(waited + time.Duration((float64(k)+0.5)*float64(*over)/float64(*n)))
		time.Sleep(time.Until(at))
		for attempt := 1; ; attempt++ {
			code, err := get(client, u)
			if err != nil {
				return err
			}
			if code != http.StatusTooManyRequests {
				break
			}
			if *maxAttempts > 0 && attempt >= *maxAttempts {
				return fmt.Errorf("request %d: throttled %d times", k+1, attempt)
			}
			w := *maxBackoff
			if attempt < 30 {
				w = min(*backoff<<(attempt-1), *maxBackoff)
			}
			w = w/2 + time.Duration(rand.Int64N(int64(w/2)+1)) // equal jitter
			time.Sleep(w)
			waited += w
		}
	}
	return nil
}

func get(c *http.Client, u string) (int, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
