// Original file: proto/switchboard/v1/message_service.proto


export interface SessionsQuery {
  'queryId'?: (number);
  'users'?: (string)[];
  'closeCode'?: (number);
  'closeReason'?: (string);
}

export interface SessionsQuery__Output {
  'queryId': (number);
  'users': (string)[];
  'closeCode': (number);
  'closeReason': (string);
}
