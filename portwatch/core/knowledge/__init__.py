"""What a port means: the catalog (IANA registry + curated notes + your own files), which
program a process is (recognition, versions), its risk, its effective reach behind the firewall
(reach), and the words for what started it (origin_text)."""
