//! The Kubernetes Pod Security Standards' `restricted` profile, checked on a
//! pod: what the admission controller would reject in a namespace enforcing
//! it. Each finding names the check and where it fails.

use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SecurityContext};

/// Sysctls the baseline profile allows.
const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// SELinux types the baseline profile allows.
const SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];
const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Every violation of the restricted profile, empty when the pod meets it.
pub fn restricted_violations(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    let Some(spec) = &pod.spec else {
        return out;
    };
    let pod_sc = spec.security_context.clone().unwrap_or_default();

    // Host namespaces.
    for (field, value) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if value == Some(true) {
            out.push(format!("host namespaces: {field}=true"));
        }
    }

    // Volume types.
    for volume in spec.volumes.iter().flatten() {
        if volume.host_path.is_some() {
            out.push(format!(
                "hostPath volumes: volume {:?} uses hostPath",
                volume.name
            ));
        }
        let allowed = volume.config_map.is_some()
            || volume.csi.is_some()
            || volume.downward_api.is_some()
            || volume.empty_dir.is_some()
            || volume.ephemeral.is_some()
            || volume.persistent_volume_claim.is_some()
            || volume.projected.is_some()
            || volume.secret.is_some();
        if !allowed && volume.host_path.is_none() {
            out.push(format!(
                "restricted volume types: volume {:?} is not configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret",
                volume.name
            ));
        }
    }

    // Pod-level security context.
    pod_level(&pod_sc, &mut out);

    // AppArmor annotations.
    for (key, value) in pod.metadata.annotations.iter().flatten() {
        if let Some(container) = key.strip_prefix(APPARMOR_ANNOTATION)
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            out.push(format!(
                "AppArmor: container {container:?} annotation profile {value:?}"
            ));
        }
    }

    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for container in containers {
        container_level(container, &pod_sc, &mut out);
    }
    for container in spec.ephemeral_containers.iter().flatten() {
        let as_container = Container {
            name: container.name.clone(),
            ports: container.ports.clone(),
            security_context: container.security_context.clone(),
            ..Container::default()
        };
        container_level(&as_container, &pod_sc, &mut out);
    }
    out
}

fn pod_level(sc: &PodSecurityContext, out: &mut Vec<String>) {
    if sc.run_as_user == Some(0) {
        out.push("runAsUser=0: pod securityContext.runAsUser is 0".into());
    }
    if let Some(options) = &sc.se_linux_options {
        selinux(
            "pod",
            options.type_.as_deref(),
            options.user.as_deref(),
            options.role.as_deref(),
            out,
        );
    }
    if let Some(profile) = &sc.seccomp_profile
        && !seccomp_ok(&profile.type_)
    {
        out.push(format!(
            "seccompProfile: pod seccompProfile.type={}",
            profile.type_
        ));
    }
    if let Some(profile) = &sc.app_armor_profile
        && profile.type_ == "Unconfined"
    {
        out.push("AppArmor: pod appArmorProfile.type=Unconfined".into());
    }
    for sysctl in sc.sysctls.iter().flatten() {
        if !SAFE_SYSCTLS.contains(&sysctl.name.as_str()) {
            out.push(format!("forbidden sysctls: {}", sysctl.name));
        }
    }
}

fn seccomp_ok(kind: &str) -> bool {
    kind == "RuntimeDefault" || kind == "Localhost"
}

fn selinux(
    owner: &str,
    kind: Option<&str>,
    user: Option<&str>,
    role: Option<&str>,
    out: &mut Vec<String>,
) {
    if let Some(kind) = kind
        && !SELINUX_TYPES.contains(&kind)
    {
        out.push(format!("seLinuxOptions: {owner} type {kind:?}"));
    }
    if user.is_some_and(|u| !u.is_empty()) {
        out.push(format!("seLinuxOptions: {owner} sets user"));
    }
    if role.is_some_and(|r| !r.is_empty()) {
        out.push(format!("seLinuxOptions: {owner} sets role"));
    }
}

fn container_level(container: &Container, pod_sc: &PodSecurityContext, out: &mut Vec<String>) {
    let who = format!("container {:?}", container.name);
    let sc: SecurityContext = container.security_context.clone().unwrap_or_default();
    if sc.privileged == Some(true) {
        out.push(format!("privileged: {who} is privileged"));
    }
    if sc.allow_privilege_escalation != Some(false) {
        out.push(format!(
            "allowPrivilegeEscalation != false: {who} must set securityContext.allowPrivilegeEscalation=false"
        ));
    }
    let drops_all = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|d| d.iter().any(|c| c == "ALL"));
    if !drops_all {
        out.push(format!(
            "unrestricted capabilities: {who} must set securityContext.capabilities.drop=[\"ALL\"]"
        ));
    }
    for added in sc
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .into_iter()
        .flatten()
    {
        if added != "NET_BIND_SERVICE" {
            out.push(format!("unrestricted capabilities: {who} adds {added}"));
        }
    }
    match (sc.run_as_non_root, pod_sc.run_as_non_root) {
        (Some(false), _) => out.push(format!("runAsNonRoot != true: {who} sets runAsNonRoot=false")),
        (Some(true), _) | (None, Some(true)) => {}
        _ => out.push(format!(
            "runAsNonRoot != true: {who} must set securityContext.runAsNonRoot=true (or the pod must)"
        )),
    }
    if sc.run_as_user == Some(0) {
        out.push(format!("runAsUser=0: {who} runs as user 0"));
    }
    match (&sc.seccomp_profile, &pod_sc.seccomp_profile) {
        (Some(profile), _) if !seccomp_ok(&profile.type_) => out.push(format!(
            "seccompProfile: {who} seccompProfile.type={}",
            profile.type_
        )),
        (Some(_), _) | (None, Some(_)) => {}
        (None, None) => out.push(format!(
            "seccompProfile: {who} must set securityContext.seccompProfile.type to RuntimeDefault or Localhost (or the pod must)"
        )),
    }
    if let Some(profile) = &sc.app_armor_profile
        && profile.type_ == "Unconfined"
    {
        out.push(format!("AppArmor: {who} appArmorProfile.type=Unconfined"));
    }
    if let Some(options) = &sc.se_linux_options {
        selinux(
            &who,
            options.type_.as_deref(),
            options.user.as_deref(),
            options.role.as_deref(),
            out,
        );
    }
    if sc.proc_mount.as_deref().is_some_and(|m| m != "Default") {
        out.push(format!(
            "procMount: {who} procMount={}",
            sc.proc_mount.as_deref().unwrap_or("")
        ));
    }
    for port in container.ports.iter().flatten() {
        if port.host_port.is_some_and(|p| p != 0) {
            out.push(format!(
                "hostPort: {who} uses hostPort {}",
                port.host_port.unwrap_or_default()
            ));
        }
    }
}
