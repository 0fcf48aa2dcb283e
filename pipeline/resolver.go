package pipeline

// Resolver answers the compiler's questions about the Southbound state the
// caller (the controller, or sbjson for files) holds. It must be pure: no
// I/O, answers from memory, the same answer for the same state. When an
// answer changes, the caller tells the compiler (Compiler.Invalidate*) so
// that the lflows that asked recompile.
type Resolver interface {
	// Port returns the datapath tunnel key and port tunnel key of the logical
	// port (Port_Binding.logical_port) called name.
	Port(name string) (dp, key uint32, ok bool)
	// MulticastGroup returns the tunnel key of the Multicast_Group called
	// name on datapath dp.
	MulticastGroup(dp uint32, name string) (key uint32, ok bool)
	// AddressSet returns the addresses of the Address_Set called name.
	AddressSet(name string) (addrs []string, ok bool)
	// PortGroup returns the port names of the SB Port_Group called name (the
	// compiler asks for "<dp tunnel_key>_<name>" first, then for name).
	PortGroup(name string) (ports []string, ok bool)
	// TemplateVar returns this chassis' value of template variable name.
	TemplateVar(name string) (value string, ok bool)
	// ChassisResident reports whether the port is resident on this chassis
	// (is_chassis_resident).
	ChassisResident(port string) bool
	// DatapathIsRouter reports whether datapath dp is a logical router (its
	// conntrack actions use the router's DNAT/SNAT zones rather than the
	// port zone).
	DatapathIsRouter(dp uint32) bool
}
