// Package chaos holds the fault and hostile-input suite (`task
// test:chaos`): each test drives the real canopyd (and agent, relay) on
// loopback, breaks something on purpose — kill -9, hostile requests, slow
// clients, hostile pipes, broken storage, bad config — and records one row
// of the table test | result | figure that the suite prints at the end.
// Its tests are in _test.go files; this file only names the package.
package chaos
