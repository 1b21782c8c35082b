package spill

// Site names one place in the buffer that calls the filesystem. Every call
// through [FS] and [File] carries its site, so fault injectors can target a
// site and reports can count the sites a run reached.
type Site string

// The site table. Sites lists them all; a test proves each one is reached.
const (
	// SiteDirCreate creates Policy.Dir when the buffer is built.
	SiteDirCreate Site = "dir.create"
	// SiteDirProbe is Probe's check that the spill directory takes a file:
	// the create, write, read back, close and remove of a probe file.
	SiteDirProbe Site = "dir.probe"
	// SiteDirRecreate re-creates Policy.Dir after it vanished (at most once).
	SiteDirRecreate Site = "dir.recreate"
	// SiteBackendCreate opens the anonymous spill file in Policy.Dir.
	SiteBackendCreate Site = "backend.create"
	// SiteBackendRollover is the spooled backend moving its bytes from
	// memory to a temp file once they pass SpoolLimit, both the create and
	// the copy of what was spooled so far.
	SiteBackendRollover Site = "backend.rollover"
	// SiteBackendUnlink removes the name of a spill file where the
	// filesystem could not create it anonymous (no O_TMPFILE).
	SiteBackendUnlink Site = "backend.unlink"
	// SiteBackendClose closes the spill file.
	SiteBackendClose Site = "backend.close"
	// SiteRecordWrite writes a per-item record (header and payload in one call).
	SiteRecordWrite Site = "record.write"
	// SiteBatchWrite writes a whole-batch record (header and payload in one call).
	SiteBatchWrite Site = "batch.write"
	// SiteReloadHeader reads a record's fixed-size header.
	SiteReloadHeader Site = "reload.read.header"
	// SiteReloadPayload reads a record's payload.
	SiteReloadPayload Site = "reload.read.payload"
)

// Sites lists every site in the table, in roughly the order a buffer's life
// reaches them.
var Sites = []Site{
	SiteDirCreate,
	SiteDirProbe,
	SiteBackendCreate,
	SiteBackendUnlink,
	SiteBackendRollover,
	SiteRecordWrite,
	SiteBatchWrite,
	SiteReloadHeader,
	SiteReloadPayload,
	SiteDirRecreate,
	SiteBackendClose,
}
