// Package injectors makes the filesystem under the spill buffer fail, for
// real where the kernel allows, so fault mechanisms can be measured against
// each other.
//
// Every mechanism is an Injector: it probes whether it works on this host,
// sets up a fresh spill directory (and/or wraps the spill FS seam), arms a
// Fault, logs Observations of what it injected, and tears everything down.
//
//	mock       userspace  wraps the seam; errno, after N bytes, Nth call, rules
//	failpoint  userspace  pingcap/failpoint at every seam site (-tags failpoint)
//	tmpfs      kernel     a size-capped (or inode-capped) tmpfs mount
//	fallocate  kernel     a loop-mounted ext4 image filled to K bytes free
//	fuse       kernel     a go-fuse loopback mount whose server, in a child
//	                      process, fails by rule
//	vanish     kernel     unlink, replace, rmdir, unmount under a running engine
//
// Everything a mechanism creates (work dirs, mounts, loop devices, FUSE
// servers) is registered in Resources as it is created and released in
// reverse order by Teardown, by the SIGINT/SIGTERM handler HandleSignals
// installs, or by TestMain. Every temp dir the program makes (NewTempDir)
// carries the creating PID in its name and in a marker; Cleanup removes
// what dead processes (zombies included) left behind, and nothing else.
// The FUSE server runs in a child process that cleans up after a parent
// killed with SIGKILL (see fuseServerEnv).
package injectors
