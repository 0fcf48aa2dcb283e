package looptest

import (
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

func TestSkbCtxMatchesKernelBTF(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("kernel BTF: %v", err)
	}
	var s *btf.Struct
	if err := spec.TypeByName("__sk_buff", &s); err != nil {
		t.Fatal(err)
	}
	var c skbCtx
	want := map[string]uintptr{
		"ingress_ifindex": unsafe.Offsetof(c.IngressIfindex), "ifindex": unsafe.Offsetof(c.Ifindex),
		"gso_segs": unsafe.Offsetof(c.GSOSegs), "gso_size": unsafe.Offsetof(c.GSOSize),
		"hwtstamp": unsafe.Offsetof(c.HWTstamp), "wire_len": unsafe.Offsetof(c.WireLen),
	}
	for _, m := range s.Members {
		if off, ok := want[m.Name]; ok && uintptr(m.Offset.Bytes()) != off {
			t.Errorf("__sk_buff.%s at %d, skbCtx has it at %d", m.Name, m.Offset.Bytes(), off)
		}
	}
	if uintptr(s.Size) != unsafe.Sizeof(c) {
		t.Errorf("__sk_buff is %d bytes, skbCtx %d", s.Size, unsafe.Sizeof(c))
	}
}
