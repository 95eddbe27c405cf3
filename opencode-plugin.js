// opencode-flow's OpenCode plugin: tells the flow's MCP endpoint which OpenCode session made
// each `flow_*` tool call. OpenCode's MCP client sends nothing about the session, and one MCP
// session serves every agent of a server, so without this a host running several flows at
// once could not keep their memories apart. It adds `_opencode_session` to the call's
// arguments; the endpoint takes it out again before the tool sees them.
//
// The embedded server loads it by itself. For a remote `opencode serve`, copy this file into a
// folder with no package.json above it (OpenCode 1.18 would load that package instead) and
// add it to the server's opencode.json: "plugin": ["file:///etc/opencode-flow/opencode-plugin.js"]
//
// Plain ESM with no imports, so OpenCode loads it from the file without installing anything.
export const OpencodeFlowSession = async () => ({
  'tool.execute.before': async (input, output) => {
    if (
      typeof input?.tool === 'string' &&
      input.tool.startsWith('flow_') &&
      output?.args &&
      typeof output.args === 'object'
    ) {
      output.args._opencode_session = input.sessionID;
    }
  },
});
