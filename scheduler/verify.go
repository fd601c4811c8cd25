package scheduler

// verify recomputes every node's load from the results alone and checks
// each limit once more (ignoring float noise of a nanoampere). It never finds anything unless the code above has a
// bug; if it does, it pauses every controllable EVSE below the node, so a
// bug costs charging, never a fuse.
func verify(in *Input, t *tree, res []Result) {
	for range len(in.Nodes) + 1 {
		n := firstViolation(in, t, res)
		if n < 0 {
			return
		}
		for i := range res {
			if controllable(in.EVSEs[i].State) && res[i].Limit > 0 && t.under(int32(in.EVSEs[i].Node), n) {
				res[i].Limit, res[i].Load, res[i].Phases = 0, in.EVSEs[i].load(0, 0), 0
				res[i].Reason = Reason{Code: ReasonSafety, Node: int(n), NodeID: t.id[n], NodeKind: t.kind[n]}
			}
		}
	}
}

func controllable(s State) bool { return s == StateCharging || s == StateSuspended }

// under reports whether node m is n or below n.
func (t *tree) under(m, n int32) bool {
	for ; m >= 0; m = t.parent[m] {
		if m == n {
			return true
		}
	}
	return false
}

// firstViolation returns the first node whose limits the results break
// while it has a controllable EVSE with a limit above 0 below it, or -1.
func firstViolation(in *Input, t *tree, res []Result) int32 {
	nn := len(in.Nodes)
	tot := make([][3]float64, nn)
	ours := make([]bool, nn)
	for i := range res {
		e := &in.EVSEs[i]
		for p := range 3 {
			tot[e.Node][p] += float64(res[i].Load[p])
		}
		ours[e.Node] = ours[e.Node] || (controllable(e.State) && res[i].Limit > 0)
	}
	for n := nn - 1; n > 0; n-- {
		p := in.Nodes[n].Parent
		for k := range 3 {
			tot[p][k] += tot[n][k]
		}
		ours[p] = ours[p] || ours[n]
	}
	for n := range nn {
		if !ours[n] {
			continue
		}
		var l [3]float64
		sum := 0.0
		for p := range 3 {
			l[p] = tot[n][p] + float64(in.Nodes[n].OtherLoad[p])
			sum += l[p]
			if l[p] > t.limit[n][p]+noise {
				return int32(n)
			}
		}
		if sum > t.power[n]+noise {
			return int32(n)
		}
		if limited(t.imbMax[n]) && spread(l) > max(t.imbMax[n], spread(t.base[n]))+noise {
			return int32(n)
		}
	}
	return -1
}

// spread is the largest difference between two phases.
func spread(l [3]float64) float64 { return max(l[0], l[1], l[2]) - min(l[0], l[1], l[2]) }
