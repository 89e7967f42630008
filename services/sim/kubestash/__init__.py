"""The simulated KubeStash operator (and KubeDB's archiver and restore-initializer halves).

`catalog` + `generate` (the Addon/Function objects KubeDB's kubedb-kubestash-catalog chart
installs, as package data), `clock` (the simulated clock schedules and retention run on),
`configurations` (BackupStorage, BackupConfiguration -> Repositories), `backups`
(BackupSession -> Snapshots), `retention` (RetentionPolicy, session history), `restores`
(RestoreSession and the restore conditions KubeDB writes on the target database),
`archivers` (KubeDB's continuous archiving, its restorable window, recovery), `faults`
(the fault document's `kubestash` key), `controller` (wiring: events, dirty set, the
schedule tick). Facts from KUBESTASH-API.md. Nothing here imports the product
(`services.domain` and above).
"""
