"""drift: compare desired state with the cluster, correct or report what differs."""
