"""Media: rtpengine's NG control protocol (the anchor between the phones) and what we make of
its pcap recordings (one WAV per call)."""
