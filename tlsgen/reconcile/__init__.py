"""Make out/ match the spec: gather what is there, decide (the plan), carry the plan out."""
