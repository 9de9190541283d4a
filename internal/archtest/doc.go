// Package archtest holds no code: its test checks that the package map in
// CONTRIBUTING.md is the import graph that `go list` reports, so the
// documented layering between govs's packages cannot drift from the code.
package archtest
