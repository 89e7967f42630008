"""status-sync: list+watch KubeDB objects, write observed state, complete operations."""
