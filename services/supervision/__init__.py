"""What supervisord needs from us: the FATAL handler, the launcher, the state reader.

supervisord itself is configured by `supervisord.conf` at the repository root. Nothing here
imports the programs it supervises: a broken program must never break its supervisor.
`fatal` even runs inside supervisord's process, so it imports nothing but `marker`.
"""
