package loader

// Exported to the loader_test package (its tests build on loader/looptest,
// which package loader's own tests cannot import).

type FloorObjects = floorObjects

var LoadFloor = loadFloor

func LinkPin(d *Datapath, ifname string, h Hook) string { return d.linkPin(ifname, h) }
