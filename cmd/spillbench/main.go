// Command spillbench measures how a spill-to-disk reorder buffer should be
// configured and how it behaves when the filesystem under it fails.
//
//	spillbench run [--spec quick|default|tuning|full|FILE] [--out DIR] [--count N] [--shard i/n] [--profiles cell|rep|none] [-q]
//	spillbench cleanup
//	spillbench version
package main

import "os"

func main() { os.Exit(spillbench(os.Stdout, os.Stderr, os.Args[1:])) }
