// Package throttleapi is a small rate-limited HTTP API for tests: real token
// buckets (golang.org/x/time/rate), one per bucket name and region, that
// answer 429 Too Many Requests with a Retry-After header once drained, the
// way cloud APIs do. Terraform test modules call it with curl.
package throttleapi
