# Built by `npm install` / `npm ci` (package.json "install": node-gyp rebuild --directory=native).
# Two products in build/Release/: the Node-API addon (xattrs, mknod) and the chroot helper
# executable that runs one RUN command in private namespaces.
{
  "targets": [
    {
      "target_name": "cnbx_native",
      "sources": ["src/addon.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
    },
    {
      "target_name": "cnbx-chroot",
      "type": "executable",
      "sources": ["src/chroot-helper.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
    }
  ]
}
