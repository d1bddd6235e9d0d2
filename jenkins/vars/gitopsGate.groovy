// gitopsGate: runs gitops-gate in a Jenkins pipeline and, on a deploy decision, either lets
// gitops-gate run the plan (command: 'run') or runs the plan's stages through the generic
// pipelines itself (command: 'plan', pipelines: true). Every value reaches the binary as an
// environment variable read by a fixed script: nothing is interpolated into a shell string.

import groovy.transform.Field

@Field static final Map<String, String> DEFAULT_JOBS = [
    deploy: 'gitops/deploy',
    healthcheck: 'gitops/healthcheck',
    smoke: 'gitops/smoke-test',
    regression: 'gitops/regression-test',
]

@Field static final List<String> COMMANDS = ['plan', 'run', 'validate', 'diff']

Map call(Map config = [:]) {
    String command = config.command ?: 'plan'
    if (!COMMANDS.contains(command)) {
        error("gitopsGate: unknown command '${command}' (expected ${COMMANDS.join(', ')})")
    }
    String out = config.out ?: 'gitops-gate-out'
    List<String> argv = [command]
    if (config.environment) {
        argv.addAll(['--env', config.environment as String])
    }
    if (config.policy) {
        argv.addAll(['--policy', config.policy as String])
    }
    if (command in ['plan', 'run']) {
        argv.addAll(['--out', out])
    }
    // junit: true: the checks as JUnit XML (one test case per rule) in OUT/junit.xml.
    boolean junitReport = config.junit && command == 'plan'
    if (junitReport) {
        argv.addAll(['--format', 'junit'])
    }
    for (Object a : (config.args ?: [])) {
        argv.add(a as String)
    }

    List<String> envs = [
        "GG_BIN=${config.binary ?: env.GITOPS_GATE_BIN ?: 'gitops-gate'}",
        "GG_ARGC=${argv.size()}",
        "GG_SCRIPT=${pwd(tmp: true)}/gitops-gate-run.sh",
    ]
    argv.eachWithIndex { String a, int i -> envs.add("GG_ARG_${i}=${a}") }

    int rc = 0
    withEnv(envs) {
        writeFile(file: env.GG_SCRIPT, text: libraryResource('io/gitopsgate/run-gate.sh'))
        if (config.credentialsId) {
            // `run` pushes the deploy claim, the ledger ref and the run record to origin, and
            // every command fetches the ledgers: the Git plugin's binding hands git a
            // username and token through GIT_ASKPASS for this step only.
            withCredentials([gitUsernamePassword(credentialsId: config.credentialsId as String)]) {
                rc = sh(script: 'bash "$GG_SCRIPT"', returnStatus: true)
            }
        } else {
            rc = sh(script: 'bash "$GG_SCRIPT"', returnStatus: true)
        }
    }

    Map result = [exitCode: rc, decision: null, plan: null]
    String jenkinsJson = "${out}/jenkins.json"
    if (command in ['plan', 'run'] && fileExists(jenkinsJson)) {
        Map plan = readJSON(file: jenkinsJson, returnPojo: true)
        result.plan = plan
        result.decision = plan.decision
    }
    String junitXml = "${out}/junit.xml"
    if (junitReport && fileExists(junitXml)) {
        // Published before the build fails, so a rejection shows as failed test cases.
        junit(testResults: junitXml, allowEmptyResults: true)
    }
    if (rc != 0) {
        error("gitops-gate ${command} exited ${rc}: ${exitMeaning(rc)}")
    }
    if (command == 'plan' && config.pipelines && result.decision == 'deploy') {
        runStages(result.plan, (config.jobs ?: [:]) as Map)
    }
    return result
}

/** Runs each stage of a jenkins.json plan through its generic pipeline, in order. */
void runStages(Map plan, Map jobs) {
    for (Object s : plan.stages) {
        Map st = s as Map
        String id = st.id as String
        if (id.startsWith('notify')) {
            echo("gitops-gate: ${id} for ${st.parameters.SERVICES}")
            continue
        }
        String job = (st.job ?: jobs[id] ?: DEFAULT_JOBS[id]) as String
        if (!job) {
            error("gitopsGate: no Jenkins job for stage '${id}': name one in gitops.yaml steps.${id}.jenkins")
        }
        List params = (st.parameters as Map).collect { k, v ->
            string(name: k as String, value: v == null ? '' : v as String)
        }
        stage("${id} ${st.service ?: ''}") {
            build(job: job, parameters: params, wait: true, propagate: true)
        }
    }
}

String exitMeaning(int rc) {
    switch (rc) {
        case 1: return 'rejected by the gate policy'
        case 2: return 'invalid input (configuration, descriptor, CI context or history)'
        case 3: return 'a stage failed'
        case 4: return 'a service needed for the decision was unreachable (failed closed)'
        case 5: return 'superseded: the ledger moved since the plan was made'
        case 70: return 'internal error: a bug in gitops-gate (report it with the --verbose output)'
        default: return 'unexpected failure'
    }
}
