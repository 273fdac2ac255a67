#!/usr/bin/env python3
"""Conformance of a vCenter endpoint with VMware's Python SDK (pyVmomi).

Drives the server the way Python tools do and prints one JSON report on stdout, one entry
per step, each with "ok" and, when the step failed, the SDK's error ("error"). Steps:

- smart_connect: pyVim.connect.SmartConnect, which negotiates the API version through
  /sdk/vimServiceVersions.xml, then logs in.
- properties: cluster and host names, the cluster's hosts, read through pyVmomi's property
  accessors (each one a `Fetch` call on the object, with the property name); a host's vSAN
  node UUID through RetrievePropertiesEx with a nested property path.
- paged_inventory: every VM's name through RetrievePropertiesEx with a small maxObjects and
  ContinueRetrievePropertiesEx until no token is returned.
- retrieve_properties: the same VMs through the unpaged RetrieveProperties (its WSDL answer
  is a plain list of ObjectContent).
- cancel_paging: CancelRetrievePropertiesEx on a token; continuing it afterwards must fault.
- invalid_property: a property path no managed object has must raise InvalidProperty.
- vsan: a second stub on /vsanHealth that shares the session cookie (as VMware's
  vsanapiutils does), with the vSAN version read from /sdk/vsanServiceVersions.xml;
  VsanPerfGetSupportedEntityTypes and VsanPerfQueryPerf for the given entity types on each
  cluster (a fault for one cluster and type is recorded with its name).
- vsan_summary: VsanQueryVcClusterHealthSummary (VsanVcClusterHealthSystem),
  VsanQuerySpaceUsage (VsanSpaceReportSystem) on each cluster, and
  VsanQuerySyncingVsanObjects on the VsanSystemEx of each cluster's first host (as
  telegraf asks it), each decoded by the bindings (a fault is recorded with its name).
- newer_version: a call whose SOAPAction names pyVmomi's newest vim25 version, newer than
  the server's, must be refused (as a vCenter refuses a version it does not implement).
- logout.

Exit status: 0 when the report was printed (whatever the steps' outcomes), 2 when pyVmomi
cannot be imported, 3 on bad arguments.
"""

import argparse
import datetime
import json
import ssl
import sys
import traceback
import urllib.request
import xml.etree.ElementTree as ElementTree

try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import SoapStubAdapter, VmomiSupport, vim, vmodl
except ImportError as exc:  # the test turns this into a failure that names the fix
    sys.stderr.write("pyvmomi_conformance: cannot import pyVmomi (%s); "
                     "run scripts/test (it installs pyvmomi with pip)\n" % exc)
    sys.exit(2)


def fault_text(exc):
    """The SDK's error: the fault's type and message."""
    name = type(exc).__name__
    msg = getattr(exc, "msg", None) or str(exc)
    return "%s: %s" % (name, msg.strip())


def fault_name(exc):
    """The last part of a pyVmomi fault's type name (InvalidProperty, InvalidArgument...)."""
    return type(exc).__name__.split(".")[-1]


class Report:
    def __init__(self):
        self.data = {}

    def step(self, name):
        entry = {"ok": False}
        self.data[name] = entry
        return entry

    @staticmethod
    def failed(entry, exc):
        entry["ok"] = False
        entry["error"] = fault_text(exc)
        entry["trace"] = traceback.format_exc(limit=4)


def ssl_context(protocol):
    if protocol != "https":
        return None
    return ssl._create_unverified_context()  # the simulator's CA is generated per run


def vsan_version_from_file(base_url, context):
    """The vSAN API version to use, read from /sdk/vsanServiceVersions.xml the way
    vsanapiutils does: the first <version> of the urn:vsan namespace (then its prior
    versions, in document order) that this pyVmomi knows and that is not newer than its own.
    Returns (version, source, versions listed)."""
    local = VmomiSupport.newestVersions.GetName("vsan")
    with urllib.request.urlopen(base_url + "/sdk/vsanServiceVersions.xml", timeout=10,
                                context=context) as resp:
        root = ElementTree.parse(resp).getroot()
    listed = []
    for ns in root.findall("namespace"):
        if (ns.findtext("name") or "").strip() != "urn:vsan":
            continue
        listed = [(v.text or "").strip() for v in ns.iter("version")]
    for version_id in listed:
        known = VmomiSupport.versionMap.get("vsan/" + version_id)
        if known and VmomiSupport.IsChildVersion(local, known):
            return known, "file", listed
    return local, "fallback", listed


def container_spec(content, obj_type, paths):
    """A filter spec over a container view of obj_type, reading paths."""
    view = content.viewManager.CreateContainerView(content.rootFolder, [obj_type], True)
    traversal = vmodl.query.PropertyCollector.TraversalSpec(
        name="view", path="view", skip=False, type=vim.view.ContainerView)
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
            obj=view, skip=True, selectSet=[traversal])],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=obj_type, pathSet=list(paths), all=False)])
    return view, spec


def props_of(obj_content):
    return {p.name: p.val for p in (obj_content.propSet or [])}


def run(args, report):
    context = ssl_context(args.protocol)
    base_url = "%s://%s:%d" % (args.protocol, args.host, args.port)

    # 1. SmartConnect: version negotiation through /sdk/vimServiceVersions.xml, then Login.
    entry = report.step("smart_connect")
    try:
        kwargs = {}
        if args.protocol == "https":
            kwargs["disableSslCertValidation"] = True
        si = SmartConnect(protocol=args.protocol, host=args.host, port=args.port,
                          user=args.user, pwd=args.password, **kwargs)
        stub = si._stub
        about = si.content.about
        entry.update(ok=True, version=stub.version,
                     version_id=VmomiSupport.versionIdMap.get(stub.version),
                     api_version=about.apiVersion, about_version=about.version,
                     full_name=about.fullName, cookie_set=bool(stub.cookie))
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)
        return
    content = si.content

    # 2. Property reads through the accessors.
    entry = report.step("properties")
    clusters = []
    try:
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.ClusterComputeResource], True)
        try:
            for cluster in view.view:
                hosts = [{"moref": h._moId, "name": h.name} for h in cluster.host]
                clusters.append({"moref": cluster._moId, "name": cluster.name, "hosts": hosts,
                                 "obj": cluster})
        finally:
            view.DestroyView()
        entry["clusters"] = [{k: v for k, v in c.items() if k != "obj"} for c in clusters]
        node_uuids = {}
        pc = content.propertyCollector
        hview, spec = container_spec(content, vim.HostSystem,
                                     ["name", "config.vsanHostConfig.clusterInfo.nodeUuid"])
        try:
            result = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
            while result is not None:
                for oc in result.objects or []:
                    p = props_of(oc)
                    node_uuids[p.get("name")] = p.get("config.vsanHostConfig.clusterInfo.nodeUuid")
                if not result.token:
                    break
                result = pc.ContinueRetrievePropertiesEx(result.token)
        finally:
            hview.DestroyView()
        entry["node_uuids"] = node_uuids
        entry["ok"] = bool(clusters)
        if not clusters:
            entry["error"] = "no ClusterComputeResource in the container view"
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    pc = content.propertyCollector

    # 3. Paged inventory: RetrievePropertiesEx + ContinueRetrievePropertiesEx.
    entry = report.step("paged_inventory")
    try:
        vview, spec = container_spec(content, vim.VirtualMachine, ["name"])
        try:
            names, pages, sizes = [], 0, []
            result = pc.RetrievePropertiesEx(
                [spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=args.page_size))
            while result is not None:
                pages += 1
                objs = result.objects or []
                sizes.append(len(objs))
                names.extend(props_of(oc).get("name") for oc in objs)
                if not result.token:
                    break
                if pages > args.max_pages:
                    raise RuntimeError("more than %d pages: the token never ends" % args.max_pages)
                result = pc.ContinueRetrievePropertiesEx(result.token)
        finally:
            vview.DestroyView()
        entry.update(ok=True, pages=pages, page_sizes=sizes, vm_names=sorted(names))
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 4. The unpaged RetrieveProperties (pyVmomi's RetrieveContents).
    entry = report.step("retrieve_properties")
    try:
        vview, spec = container_spec(content, vim.VirtualMachine, ["name"])
        try:
            objs = pc.RetrieveContents([spec]) or []
        finally:
            vview.DestroyView()
        entry.update(ok=True, vm_names=sorted(props_of(oc).get("name") for oc in objs))
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 5. CancelRetrievePropertiesEx, then continuing the cancelled token must fault.
    entry = report.step("cancel_paging")
    try:
        vview, spec = container_spec(content, vim.VirtualMachine, ["name"])
        try:
            result = pc.RetrievePropertiesEx(
                [spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=1))
            token = result.token if result is not None else None
            if not token:
                raise RuntimeError("maxObjects=1 returned no token")
            pc.CancelRetrievePropertiesEx(token)
            try:
                pc.ContinueRetrievePropertiesEx(token)
                entry.update(ok=False, error="ContinueRetrievePropertiesEx accepted a cancelled token")
            except vmodl.MethodFault as fault:
                entry.update(ok=True, continue_fault=fault_name(fault))
        finally:
            vview.DestroyView()
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 6. InvalidProperty for a path that does not exist.
    entry = report.step("invalid_property")
    try:
        cview, spec = container_spec(content, vim.ClusterComputeResource, ["noSuchProperty"])
        try:
            pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
            entry.update(ok=False, error="no fault for an unknown property path")
        except vmodl.MethodFault as fault:
            entry.update(ok=fault_name(fault) == "InvalidProperty", fault=fault_name(fault),
                         fault_name=getattr(fault, "name", None))
            if not entry["ok"]:
                entry["error"] = fault_text(fault)
        finally:
            cview.DestroyView()
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 7. vSAN: a second stub on /vsanHealth sharing the session cookie.
    entry = report.step("vsan")
    try:
        version, source, listed = vsan_version_from_file(base_url, context)
        entry.update(version=version, version_id=VmomiSupport.versionIdMap.get(version),
                     version_source=source, versions_listed=listed)
        port = args.port if args.protocol == "https" else -args.port
        vsan_stub = SoapStubAdapter(host=args.host, port=port, version=version,
                                    path="/vsanHealth", sslContext=context)
        vsan_stub.cookie = si._stub.cookie
        perf = vim.cluster.VsanPerformanceManager("vsan-performance-manager", vsan_stub)
        types = perf.VsanPerfGetSupportedEntityTypes()
        entry["entity_types"] = {
            t.name: {"units": {m.label: g.unit for g in (t.graphs or []) for m in (g.metrics or [])}}
            for t in types or []}
        start = datetime.datetime.fromtimestamp(args.start, datetime.timezone.utc)
        end = datetime.datetime.fromtimestamp(args.end, datetime.timezone.utc)
        series, faults = [], []
        for c in clusters:
            for entity in args.entity:
                spec = vim.cluster.VsanPerfQuerySpec(entityRefId=entity, startTime=start, endTime=end)
                try:
                    answer = perf.VsanPerfQueryPerf(querySpecs=[spec], cluster=c["obj"]) or []
                except vmodl.MethodFault as fault:
                    faults.append({"cluster": c["moref"], "entity": entity, "fault": fault_name(fault)})
                    continue
                for em in answer:
                    times = em.sampleInfo.split(",") if em.sampleInfo else []
                    for v in em.value or []:
                        values = v.values.split(",") if v.values else []
                        series.append({"cluster": c["moref"], "entity": em.entityRefId,
                                       "label": v.metricId.label, "times": times,
                                       "values": [float(x) if x != "" else None for x in values]})
        entry.update(ok=bool(series), series=series, faults=faults)
        if not series:
            entry["error"] = "VsanPerfQueryPerf returned no series"
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 7b. vSAN health, capacity and resync, through the bindings' own managed objects.
    entry = report.step("vsan_summary")
    try:
        port = args.port if args.protocol == "https" else -args.port
        vsan_stub = SoapStubAdapter(host=args.host, port=port, version=version,
                                    path="/vsanHealth", sslContext=context)
        vsan_stub.cookie = si._stub.cookie
        health = vim.cluster.VsanVcClusterHealthSystem("vsan-cluster-health-system", vsan_stub)
        space = vim.cluster.VsanSpaceReportSystem("vsan-cluster-space-report-system", vsan_stub)
        per_cluster, faults = {}, []
        for c in clusters:
            got = {}
            try:
                h = health.VsanQueryVcClusterHealthSummary(
                    cluster=c["obj"], fields=["overallHealth", "groups"], fetchFromCache=True)
                got["health"] = {
                    "overall": h.overallHealth,
                    "groups": [{"id": g.groupId, "name": g.groupName, "health": g.groupHealth,
                                "tests": [{"id": t.testId, "name": t.testName,
                                           "health": t.testHealth}
                                          for t in g.groupTests or []]}
                               for g in h.groups or []]}
            except vmodl.MethodFault as fault:
                faults.append({"cluster": c["moref"], "call": "health", "fault": fault_name(fault)})
            try:
                u = space.VsanQuerySpaceUsage(cluster=c["obj"])
                eff = u.efficientCapacity
                got["space"] = {
                    "total": u.totalCapacityB, "free": u.freeCapacityB,
                    "by_type": {o.objType: o.usedB
                                for o in (u.spaceDetail.spaceUsageByObjectType
                                          if u.spaceDetail else None) or []},
                    "logical_used": eff.logicalCapacityUsed if eff else None,
                    "physical_used": eff.physicalCapacityUsed if eff else None}
            except vmodl.MethodFault as fault:
                faults.append({"cluster": c["moref"], "call": "space", "fault": fault_name(fault)})
            if c["hosts"]:
                number = c["hosts"][0]["moref"].split("-")[1]
                system = vim.host.VsanSystemEx("vsanSystemEx-" + number, vsan_stub)
                try:
                    r = system.VsanQuerySyncingVsanObjects(uuids=[], start=0, limit=100,
                                                           includeSummary=True)
                    got["resync"] = {
                        "bytes": r.totalBytesToSync, "objects": r.totalObjectsToSync,
                        "eta": r.totalRecoveryETA,
                        "components": [{"object": o.uuid, "host": comp.hostUuid,
                                        "bytes": comp.bytesToSync,
                                        "reasons": list(comp.reasons or [])}
                                       for o in r.objects or [] for comp in o.components or []]}
                except vmodl.MethodFault as fault:
                    faults.append({"cluster": c["moref"], "call": "resync",
                                   "fault": fault_name(fault)})
            per_cluster[c["moref"]] = got
        entry.update(ok=bool(per_cluster), clusters=per_cluster, faults=faults)
        if not per_cluster:
            entry["error"] = "no cluster to ask"
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 8. A call naming a vim25 version newer than the server's (pyVmomi's newest) is refused.
    entry = report.step("newer_version")
    try:
        newest = VmomiSupport.newestVersions.GetName("vim")
        entry["version"] = newest
        if newest == si._stub.version:
            entry.update(ok=True, refused=None)
        else:
            port = args.port if args.protocol == "https" else -args.port
            stub = SoapStubAdapter(host=args.host, port=port, version=newest, path="/sdk",
                                   sslContext=context)
            stub.cookie = si._stub.cookie
            try:
                vim.ServiceInstance("ServiceInstance", stub).RetrieveContent()
                entry.update(ok=True, refused=False)
            except Exception as fault:  # pylint: disable=broad-except
                entry.update(ok=True, refused=True, fault=fault_name(fault), message=fault_text(fault))
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)

    # 9. Logout.
    entry = report.step("logout")
    try:
        Disconnect(si)
        entry["ok"] = True
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(entry, exc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["http", "https"], default="https")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="administrator@vsphere.local")
    parser.add_argument("--password", default="VMware1!")
    parser.add_argument("--page-size", type=int, default=3)
    parser.add_argument("--max-pages", type=int, default=10000)
    parser.add_argument("--entity", action="append",
                        help="entityRefId queried on every cluster (repeatable; "
                             "default host-domclient:*); a fault is recorded, not fatal")
    parser.add_argument("--start", type=int, required=True, help="Unix seconds, exclusive")
    parser.add_argument("--end", type=int, required=True, help="Unix seconds, inclusive")
    try:
        args = parser.parse_args()
    except SystemExit:
        sys.exit(3)
    args.entity = args.entity or ["host-domclient:*"]
    report = Report()
    try:
        run(args, report)
    except Exception as exc:  # pylint: disable=broad-except
        report.failed(report.step("unexpected"), exc)
    try:
        import importlib.metadata
        report.data["pyvmomi_version"] = importlib.metadata.version("pyvmomi")
    except Exception:  # pylint: disable=broad-except
        report.data["pyvmomi_version"] = None
    json.dump(report.data, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
