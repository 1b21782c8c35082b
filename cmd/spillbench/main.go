// Command spillbench measures how a spill-to-disk reorder buffer should be
// configured and how it behaves when the filesystem under it fails.
//
//	spillbench run [--spec quick|default|tuning|full|FILE] [--out DIR] [--count N] [--shard i/n] [--profiles cell|rep|none] [-q]
//	spillbench report [--out DIR] DIR...
//	spillbench compare [--metric UNITS] [--threshold 5%] [--format text|csv|json|markdown] OLD NEW
//	spillbench ab [--base REV|BINARY] [--head BINARY] [--spec SPEC] [--threshold 5%]
//	spillbench calibrate [--spec SPEC] [--sequential]
//	spillbench history add|show ...
//	spillbench inject
//	spillbench survive
//	spillbench list
//	spillbench cleanup
//	spillbench version
//
// ab and calibrate run their two sweeps interleaved, repetition by
// repetition, and compare them pair by pair: drift of the host falls on
// both sides alike. Run "spillbench <command> -h" for each command's flags.
package main

import "os"

func main() { os.Exit(spillbench(os.Stdout, os.Stderr, os.Args[1:])) }
