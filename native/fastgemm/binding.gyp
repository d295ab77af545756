{
  "targets": [
    {
      "target_name": "fastgemm",
      "sources": ["gemm.c"],
      "cflags": ["-O3", "-std=gnu11", "-ffp-contract=fast", "-pthread"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-std=gnu11", "-ffp-contract=fast"] }
    }
  ]
}
