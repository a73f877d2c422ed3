// Command throttleapi runs the test throttling API for manual runs:
//
//	go run ./exec/internal/throttleapi/cmd/throttleapi -addr 127.0.0.1:0 -rate 5 -burst 5
//
// It prints its URL and serves until interrupted (or -for elapses).
package main
