// Command ovnbpfctl is the operator CLI of ovnbpf.
package main

import (
	"fmt"
	"os"
	"sort"
)

// commands maps a subcommand to its handler; each file adds its own.
var commands = map[string]func(args []string) error{}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ovnbpfctl COMMAND [ARGS...]\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintln(os.Stderr, "  "+name)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "ovnbpfctl: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "ovnbpfctl:", err)
		os.Exit(1)
	}
}
