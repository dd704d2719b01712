// Command varlink-check checks loopd's varlink interfaces with the Go
// varlink library (github.com/varlink/go, Debian's
// golang-github-varlink-go-dev), an implementation that shares no code
// with loopd.  Run by tests/integration/ctl_varlink_go.sh.
//
//	varlink-check idl PROTOCOL_H FILE...
//	    Parses every io.loopd.*.varlink FILE with the library's IDL parser,
//	    checks that its name matches the file name, that every type it
//	    uses is defined, that every error carries "message: string", and
//	    that every method and error protocol.h names is declared.
//	varlink-check call SOCKET DIR
//	    Against a running loopd: GetInfo, GetInterfaceDescription of every
//	    interface (which must parse, and equal DIR's file for io.loopd.*),
//	    InterfaceNotFound for an unknown one, and io.loopd.daemon.GetStatus.
//
// Exit status 0 when everything holds, 1 otherwise (each problem on
// stderr).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"
)

var failed bool

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	failed = true
}

// A set of "interface.Member" names.
type names map[string]bool

// checkTypes reports alias references that the interface does not define.
func checkTypes(where string, t *idl.Type, defined map[string]bool) {
	if t == nil {
		return
	}
	switch t.Kind {
	case idl.TypeAlias:
		if !defined[t.Alias] {
			fail("%s: type %s is used but not defined", where, t.Alias)
		}
	case idl.TypeArray, idl.TypeMaybe, idl.TypeMap:
		checkTypes(where, t.ElementType, defined)
	case idl.TypeStruct:
		for _, f := range t.Fields {
			checkTypes(where+"."+f.Name, f.Type, defined)
		}
	}
}

// hasMessage says whether an error's type has a field "message: string".
func hasMessage(t *idl.Type) bool {
	if t == nil || t.Kind != idl.TypeStruct {
		return false
	}
	for _, f := range t.Fields {
		if f.Name == "message" && f.Type.Kind == idl.TypeString {
			return true
		}
	}
	return false
}

// parseFile parses one .varlink file and checks it; it adds the methods
// and errors it declares to declared.
func parseFile(path string, declared names) {
	text, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
		return
	}
	iface, err := idl.New(string(text))
	if err != nil {
		fail("%s: not valid varlink IDL: %v", path, err)
		return
	}
	if want := strings.TrimSuffix(filepath.Base(path), ".varlink"); iface.Name != want {
		fail("%s: declares interface %s, not %s", path, iface.Name, want)
	}
	defined := map[string]bool{}
	for _, a := range iface.Aliases {
		defined[a.Name] = true
	}
	for _, a := range iface.Aliases {
		checkTypes(iface.Name+"."+a.Name, a.Type, defined)
	}
	for _, m := range iface.Methods {
		checkTypes(iface.Name+"."+m.Name+" in", m.In, defined)
		checkTypes(iface.Name+"."+m.Name+" out", m.Out, defined)
		declared[iface.Name+"."+m.Name] = true
	}
	for _, e := range iface.Errors {
		checkTypes(iface.Name+"."+e.Name, e.Type, defined)
		if !hasMessage(e.Type) {
			fail("%s: error %s has no \"message: string\"", path, e.Name)
		}
		declared[iface.Name+"."+e.Name] = true
	}
	fmt.Printf("ok %s: %d types, %d methods, %d errors\n", iface.Name,
		len(iface.Aliases), len(iface.Methods), len(iface.Errors))
}

// protocolNames reads the methods and errors protocol.h defines, e.g.
// #define LOOPD_M_JOBS_ADD LOOPD_IF_JOBS ".Add".
func protocolNames(path string) names {
	text, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
		return nil
	}
	ifaces := map[string]string{}
	reIf := regexp.MustCompile(`(?m)^#define\s+(LOOPD_IF_\w+)\s+"([a-z0-9.]+)"`)
	for _, m := range reIf.FindAllStringSubmatch(string(text), -1) {
		ifaces[m[1]] = m[2]
	}
	out := names{}
	reMember := regexp.MustCompile(`(?m)^#define\s+LOOPD_[ME]_\w+\s+(LOOPD_IF_\w+)\s+"\.(\w+)"`)
	for _, m := range reMember.FindAllStringSubmatch(string(text), -1) {
		if iface, ok := ifaces[m[1]]; ok {
			out[iface+"."+m[2]] = true
		} else {
			fail("%s: %s is not an interface macro", path, m[1])
		}
	}
	if len(out) == 0 {
		fail("%s: no methods or errors found", path)
	}
	return out
}

func checkIDL(protocol string, files []string) {
	declared := names{}
	for _, f := range files {
		parseFile(f, declared)
	}
	want := protocolNames(protocol)
	var missing []string
	for n := range want {
		if !strings.HasPrefix(n, "org.varlink.service.") && !declared[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	for _, n := range missing {
		fail("%s names %s, which no .varlink file declares", protocol, n)
	}
	fmt.Printf("ok: %d files, %d methods and errors declared, %d named in %s\n",
		len(files), len(declared), len(want), filepath.Base(protocol))
}

// checkDescriptions asks for every interface's description: it must
// parse, and an io.loopd.* one must be the file in dir, byte for byte.
func checkDescriptions(ctx context.Context, c *varlink.Connection, ifaces []string, dir string) {
	for _, name := range ifaces {
		desc, err := c.GetInterfaceDescription(ctx, name)
		if err != nil {
			fail("GetInterfaceDescription %s: %v", name, err)
			continue
		}
		if parsed, err := idl.New(desc); err != nil {
			fail("the description of %s does not parse: %v", name, err)
		} else if parsed.Name != name {
			fail("the description of %s declares %s", name, parsed.Name)
		}
		if !strings.HasPrefix(name, "io.loopd.") {
			continue
		}
		file, err := os.ReadFile(filepath.Join(dir, name+".varlink"))
		if err != nil {
			fail("%s is served but: %v", name, err)
		} else if string(file) != desc {
			fail("the description of %s differs from %s.varlink", name, name)
		}
	}
	_, err := c.GetInterfaceDescription(ctx, "io.loopd.nosuchinterface")
	if _, ok := err.(*varlink.InterfaceNotFound); !ok {
		fail("GetInterfaceDescription of an unknown interface: %v, not InterfaceNotFound", err)
	}
}

// checkInfo calls GetInfo and checks that every file in dir is listed.
func checkInfo(ctx context.Context, c *varlink.Connection, dir string) (string, []string) {
	var vendor, product, version, url string
	var ifaces []string
	if err := c.GetInfo(ctx, &vendor, &product, &version, &url, &ifaces); err != nil {
		fail("GetInfo: %v", err)
		return "", nil
	}
	fmt.Printf("GetInfo: %s %s %s %s %v\n", vendor, product, version, url, ifaces)
	listed := map[string]bool{}
	for _, i := range ifaces {
		listed[i] = true
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.varlink"))
	for _, f := range append(files, "org.varlink.service.varlink") {
		name := strings.TrimSuffix(filepath.Base(f), ".varlink")
		if !listed[name] {
			fail("GetInfo does not list %s", name)
		}
	}
	if vendor != "loopd" || product != "loopd" || version == "" || url == "" {
		fail("GetInfo: unexpected vendor/product/version/url")
	}
	return version, ifaces
}

func checkStatus(ctx context.Context, c *varlink.Connection, version string) {
	var st struct {
		Version string `json:"version"`
		Pid     int64  `json:"pid"`
		State   string `json:"state"`
		Socket  string `json:"socket"`
		Jobs    *struct {
			Total int64 `json:"total"`
		} `json:"jobs"`
	}
	if err := c.Call(ctx, "io.loopd.daemon.GetStatus", nil, &st); err != nil {
		fail("io.loopd.daemon.GetStatus: %v", err)
		return
	}
	fmt.Printf("GetStatus: version %s pid %d state %s socket %s\n",
		st.Version, st.Pid, st.State, st.Socket)
	if st.Version != version || st.Pid <= 0 || st.Jobs == nil ||
		(st.State != "running" && st.State != "degraded") {
		fail("GetStatus: unexpected reply %+v", st)
	}
}

func checkCall(socket, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := varlink.NewConnection(ctx, "unix:"+socket)
	if err != nil {
		fail("connect %s: %v", socket, err)
		return
	}
	defer c.Close()
	version, ifaces := checkInfo(ctx, c, dir)
	checkDescriptions(ctx, c, ifaces, dir)
	checkStatus(ctx, c, version)
}

func main() {
	if len(os.Args) >= 4 && os.Args[1] == "idl" {
		checkIDL(os.Args[2], os.Args[3:])
	} else if len(os.Args) == 4 && os.Args[1] == "call" {
		checkCall(os.Args[2], os.Args[3])
	} else {
		fmt.Fprintln(os.Stderr, "usage: varlink-check idl PROTOCOL_H FILE...\n"+
			"       varlink-check call SOCKET DIR")
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
