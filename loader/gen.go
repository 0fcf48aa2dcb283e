package loader

// The benchmark floor program (a tc program that only redirects).
//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel floor ../bpf/floor.c
