"""The simulated Kubernetes API server and KubeDB operator (`dbaas sim`); see `server.py`."""
