package layout

// The machine's trust store and proxy: files user-data writes and the
// engine, the console and the updater read.
const (
	// CABundle is the system's CA bundle (PEM), where Debian keeps it:
	// Go's crypto/x509, curl, dockerd and containerd read it.
	CABundle = "/etc/ssl/certs/ca-certificates.crt"
	// CABundleBase is the image's own bundle, from Debian's
	// ca-certificates: user-data's ca_certs are added to it at every
	// boot, so a new release's bundle is never shadowed by an old copy
	// in /etc's persistent layer.
	CABundleBase = "/usr/share/berth/ca-certificates.crt"
	// ProxyEnv holds berth.proxy as environment variables (HTTP_PROXY,
	// HTTPS_PROXY, NO_PROXY and their lowercase forms), for dockerd,
	// containerd (EnvironmentFile=) and the updater.
	ProxyEnv = "/etc/berth/proxy.env"
)
