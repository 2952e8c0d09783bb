// Original file: proto/switchboard/v1/message_service.proto


export interface SessionsReport {
  'queryId'?: (number);
  'connections'?: (number)[];
}

export interface SessionsReport__Output {
  'queryId': (number);
  'connections': (number)[];
}
