"""OpenFMB 2.2 over NATS: meter reading, switch/recloser/breaker status and event profiles → gridmon topics."""
