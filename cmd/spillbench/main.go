// Command spillbench measures how a spill-to-disk reorder buffer should be
// configured and how it behaves when the filesystem under it fails.
//
//	spillbench run [--spec quick|ci|default|tuning|full|FILE] [--out DIR] [--count N] [--shard i/n] [--profiles cell|rep|none] [-q]
//	spillbench report [--out DIR] [--format md|html|both] DIR...
//	spillbench compare [--metric UNITS] [--threshold 5%] [--allow-missing] [--format text|csv|json|markdown] OLD NEW
//	spillbench ab [--base REV|BINARY] [--head BINARY] [--spec SPEC] [--threshold 5%] [--format markdown]
//	spillbench calibrate [--spec SPEC] [--sequential]
//	spillbench history add [--store DIR] [--commit SHA] DIR|FILE|-
//	spillbench history show [--store DIR] [--metric UNIT] [--threshold 0%]
//	spillbench inject
//	spillbench survive
//	spillbench list
//	spillbench cleanup
//	spillbench version
//
// compare and history read result directories and any Go benchmark-format
// file (go test -bench output; a,b for several a side, - for standard
// input). ab and calibrate run their two sweeps interleaved, repetition
// by repetition, and compare them pair by pair: drift of the host falls
// on both sides alike. Exit status: 0 fine, 1 a regression or failed
// repetitions (or standard output that could not be written), 2 bad
// input or a failure to measure, 128+N after signal N (130 for SIGINT,
// 143 for SIGTERM). Run "spillbench <command> -h" for each command's
// flags.
package main

import "os"

func main() { os.Exit(spillbench(os.Stdout, os.Stderr, os.Args[1:])) }
