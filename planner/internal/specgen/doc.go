// Package specgen generates large synthetic specs for the planner's scale
// benchmarks: the same shape as a lang.Spec built in memory (to time
// Compile alone) and as HCL text (to time Load + Compile end to end).
//
// Shape, for n operations: 24 regions; components of 5 phases, mostly
// regional (one instance per region, every 7th with 2 replicas), every
// 25th a non-regional gate that depends on all instances of a regional
// one, every 40th run-alone; each component depends on up to 3 of the 50
// components before it (a seeded RNG, so the same n gives the same spec).
// Every 10th component uses terraform in one shared module dir.
package specgen
