"""The two fidelity levels behind one interface: `analytic` (closed-form costs per kernel, then a launch
pipeline) and `des` (simpy replay of the same kernels on queued resources). Both return a Result."""
