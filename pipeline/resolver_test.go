package pipeline

import "strconv"

// testResolver answers from maps; it is the in-memory state a controller
// would hold, for table tests.
type testResolver struct {
	ports     map[string][2]uint32 // name -> (dp, key)
	mcast     map[string]uint32    // "dp/name" -> key
	addrSets  map[string][]string
	groups    map[string][]string
	templates map[string]string
	resident  map[string]bool
	routers   map[uint32]bool
}

func newTestResolver() *testResolver {
	return &testResolver{
		ports: map[string][2]uint32{
			"p1": {1, 1}, "p2": {1, 2}, "p3": {1, 3}, "lrp1": {2, 1}, "cr-lrp1": {2, 2},
		},
		mcast: map[string]uint32{"1/_MC_flood": 32768, "1/_MC_unknown": 32769},
		addrSets: map[string][]string{"as1": {"10.0.0.1", "10.0.0.2", "192.0.2.0/24"}, "as6": {"fd00::1"}, "empty": {},
			"big": {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"}},
		groups: map[string][]string{"1_pg1": {"p1", "p2"}, "pg2": {"p3", "lrp1"}},
		templates: map[string]string{"vip": "203.0.113.1", "port": "80",
			"backends": "192.0.2.10:8080,192.0.2.11:8080", "bip": "192.0.2.12", "bport": "8081", "b6": "[2001:db8::5]:443"},
		resident: map[string]bool{"cr-lrp1": true},
		routers:  map[uint32]bool{2: true},
	}
}

func (r *testResolver) Port(name string) (uint32, uint32, bool) {
	p, ok := r.ports[name]
	return p[0], p[1], ok
}
func (r *testResolver) MulticastGroup(dp uint32, name string) (uint32, bool) {
	k, ok := r.mcast[strconv.Itoa(int(dp))+"/"+name]
	return k, ok
}
func (r *testResolver) AddressSet(name string) ([]string, bool) {
	a, ok := r.addrSets[name]
	return a, ok
}
func (r *testResolver) PortGroup(name string) ([]string, bool) {
	g, ok := r.groups[name]
	return g, ok
}
func (r *testResolver) TemplateVar(name string) (string, bool) {
	v, ok := r.templates[name]
	return v, ok
}
func (r *testResolver) ChassisResident(port string) bool { return r.resident[port] }
func (r *testResolver) DatapathIsRouter(dp uint32) bool  { return r.routers[dp] }
