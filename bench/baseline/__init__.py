"""The usual design, for comparison: the seed document's ``AIDeploymentNode`` over the same DDS transport."""
