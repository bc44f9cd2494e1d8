"""The HTTP plumbing the API and the console share: request dependencies (`deps`), problem
documents (`problems`), the caller's address (`auth`), the codec's CORS and the edge rules
(trusted proxies, transport security). It holds no use case: those are in `application/`."""
