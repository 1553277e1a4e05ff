/**
 * The client → server frames the WebSocket door validates with. Declared once,
 * in the protocol module (src/protocol), which the SDK and the API documents
 * share; the frame handlers read them from here.
 */
export {
  type ClientFrame,
  type ClientFrameType,
  clientFrames,
  FRAME_ID_MAX,
  frameSenders,
} from "../protocol/index.js";
