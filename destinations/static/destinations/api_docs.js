"use strict";
// A Swagger UI plugin for /api/docs/ (SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"] lists it): the X-Workspace-ID
// header follows the path's workspace_id, so the id is typed once. A header typed by hand is left alone.

const WORKSPACE_PATH_PARAM = "workspace_id";
const WORKSPACE_HEADER = "X-Workspace-ID";

function WorkspaceHeaderFromPath() {
  return {
    statePlugins: {
      spec: {
        wrapActions: {
          changeParamByIdentity: (original, system) => (pathMethod, param, value, isXml) => {
            const isWorkspaceId = param.get("in") === "path" && param.get("name") === WORKSPACE_PATH_PARAM;
            const valueOf = (p) => (system.specSelectors.parameterWithMetaByIdentity(pathMethod, p) || param).get("value");
            const before = isWorkspaceId ? valueOf(param) : undefined;
            const result = original(pathMethod, param, value, isXml);
            if (!isWorkspaceId) {
              return result;
            }
            const parameters = system.specSelectors.specJsonWithResolvedSubtrees().getIn(["paths", ...pathMethod, "parameters"]);
            const header = parameters && parameters.find((p) => p.get("in") === "header" && p.get("name") === WORKSPACE_HEADER);
            if (header) {
              const current = valueOf(header);
              if (!current || current === before) {
                original(pathMethod, header, value, false);
              }
            }
            return result;
          },
        },
      },
    },
  };
}
