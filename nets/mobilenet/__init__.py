"""MobileNet v2, v3 and EdgeTPU: one generic builder driven by op specs."""
